"""Test helpers that ship with the package: real servers, factories for rows and messages."""

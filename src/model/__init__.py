"""Value types and venue rules shared by everything; imports nothing else from src/."""

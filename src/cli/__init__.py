"""What every command shares with the terminal: its lines to a person and its flags' values."""

"""Telling the owner what happens wherever he is: push notifications and Telegram remote control."""

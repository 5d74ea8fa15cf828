"""The interactive wizard (questionary front end)."""

"""The built-in lip-sync engine: the person's own mouths, chosen to follow the speech."""

"""Who may read what without signing in: API bearer tokens and patients' calendar links."""

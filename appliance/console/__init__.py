"""The management console (`/console`, site administrators only) and the operations it shares with the
CLI: `operations` is the one function behind each change, whichever face asks, and writes the audit log;
`views` is the console's face."""

"""Moving instances and their snapshots between daemons: copy, refresh, move."""

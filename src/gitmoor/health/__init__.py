"""kstatus-style health of objects, and waiting on a ChangeSet. Writes nothing."""

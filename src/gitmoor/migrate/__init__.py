"""Migration from Flux and Argo CD: their resources in, equivalent GitSources and Syncs out,
with every field that has no equivalent listed (`Skipped`), never dropped in silence.

Pure: `gitmoor.commands.migration` reads files or the cluster, `gitmoor.cli` prints.
"""

from gitmoor.migrate.documents import KINDS, MARKERS, as_syncs, migrate, parse_documents
from gitmoor.migrate.result import Migration, Skipped

__all__ = ["KINDS", "MARKERS", "Migration", "Skipped", "as_syncs", "migrate", "parse_documents"]

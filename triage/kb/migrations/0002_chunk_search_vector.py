"""PostgreSQL full-text search for chunks: a weighted tsvector column and its GIN index.

The column is deliberately not a model field: it exists only on PostgreSQL (SQLite retrieval
uses an in-process BM25 index instead, see triage.kb.retrieval) and is maintained by
triage.kb.services with one UPDATE per re-chunked article. On SQLite this migration does nothing.
"""

from django.db import migrations

FORWARD = [
    "ALTER TABLE kb_chunk ADD COLUMN IF NOT EXISTS search_vector tsvector",
    "CREATE INDEX IF NOT EXISTS kb_chunk_search_vector_gin ON kb_chunk USING GIN (search_vector)",
]
BACKWARD = [
    "DROP INDEX IF EXISTS kb_chunk_search_vector_gin",
    "ALTER TABLE kb_chunk DROP COLUMN IF EXISTS search_vector",
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in FORWARD:
        schema_editor.execute(statement)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in BACKWARD:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("kb", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]

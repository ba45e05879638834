# Search's indexes (handoffs/search.py), PostgreSQL only: SQLite searches by scanning.
# - message text: GIN over to_tsvector('simple', text), the very expression the search uses
#   ('simple': conversations are multilingual, so no language's stemming or stop words);
# - user variables: a trigram GIN index over variables::text, for ILIKE '%...%' (pg_trgm, a
#   trusted extension: the database owner may create it; without it search still works, by
#   scanning the users).
# Neither is in the models' Meta (a GinIndex cannot be created on SQLite), so Django's
# autodetector does not see them. CONCURRENTLY: an existing installation keeps writing
# messages while the index builds, hence a non-atomic migration.

from django.db import migrations

MESSAGE_INDEX = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS message_text_search ON conversations_message "
    "USING gin (to_tsvector('simple'::regconfig, text))"
)
VARIABLES_INDEX = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS end_user_variables_trgm ON conversations_enduser "
    "USING gin ((variables::text) gin_trgm_ops)"
)


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(MESSAGE_INDEX)
        cursor.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm' "
            "AND (installed_version IS NOT NULL OR has_database_privilege("
            "current_database(), 'CREATE'))"
        )
        if cursor.fetchone() is None:
            return  # no pg_trgm here: variables are searched by a scan
        try:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except Exception:  # not allowed after all (an untrusted build): scan instead
            return
        cursor.execute(VARIABLES_INDEX)


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("DROP INDEX CONCURRENTLY IF EXISTS message_text_search")
        cursor.execute("DROP INDEX CONCURRENTLY IF EXISTS end_user_variables_trgm")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("conversations", "0008_attachment"),
    ]

    operations = [
        migrations.RunPython(create_indexes, drop_indexes, elidable=False),
    ]

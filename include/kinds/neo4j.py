"""Neo4j graph databases: checked daily (databases and indexes online) and maintained weekly."""

from include.kinds.base import KindSpec

SPEC = KindSpec(
    name="neo4j",
    check="include.checks.neo4j",
    weekly="include.weekly.neo4j",
    update_health=True,
)

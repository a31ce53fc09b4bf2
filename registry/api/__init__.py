"""The registry's network surface: GraphQL for doctors' systems, HTTP ingest for facilities, operations."""

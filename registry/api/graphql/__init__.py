"""The GraphQL API (strawberry): patients' identities and histories, facilities, batches, administration."""

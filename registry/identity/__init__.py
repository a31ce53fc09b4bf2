"""Identity work: which source patients are one person, and what the registry says about them.

- `links`: the one module that changes links: the linking lock, founding identities,
  superseding a record's link with a new one, retiring emptied identities (`merged_into`).
  Every path below goes through it.
- `load_linking` (at load, incremental) with `load_scoring` (its forked workers);
  `batch_relink` (`provreg match run`) with `relink_shards`; both on `forked`, `key_index` (the
  blocking-key table), `person_records`, `model_store` (the trained model), `explanations` and
  `review_queue` (the stewards' queue, written set-based).
- `stewardship`: a steward's relinks and review decisions, and the review queue as read.
- `golden_record` (survivorship), `search` (finding a patient without a citizen ID, ranked by the
  same stored model as linking), `links_export` (the links CSV contract).
"""

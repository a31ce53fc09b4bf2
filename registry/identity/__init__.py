"""Identity work: which source patients are one person, and what the registry says about them.

- `links`: the one module that changes links: the linking lock, founding identities,
  superseding a record's link with a new one (or restoring an earlier one), retiring emptied
  identities and bringing them back only with their own records. Every path below goes through it.
- `load_linking` (at load, incremental) with `load_scoring` (its forked workers);
  `batch_relink` (`provreg match run`) with `relink_shards`; both on `forked`, `key_index` (the
  blocking-key table), `person_records`, `model_store` (the trained model), `explanations` and
  `review_queue` (the stewards' queue, one item per pair, written set-based).
- `stewardship`: a steward's relinks, splits and review decisions (and their undoing), and the
  review queue as read; `merges`: merging two identities and undoing a merge; `errors`: why a
  steward's change was refused.
- `history`: every steward's change recorded with its identities before and after, and an
  identity's history (those changes and the engine's links); `master_ids`: what a master id
  answers with (itself, or where a retired id's records are now).
- `golden_record` (survivorship), `search` (finding a patient without a citizen ID, ranked by the
  same stored model as linking), `links_export` (the links CSV contract).
"""

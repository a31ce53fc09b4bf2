"""A synthetic province for testing provreg end to end: people, the files their facilities post
each night, and the ground truth to score linkage against. See docs/synthetic-province.md."""

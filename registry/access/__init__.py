"""Who may do what: roles and their permissions, bearer tokens, and the audit of patient reads."""

"""Safe edits: WorkspaceEdit or patch -> ChangeSet (pure), guards, transactional
apply with a journal and crash recovery, and the mutating commands."""

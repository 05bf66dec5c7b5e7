"""WorkspaceEdit -> ChangeSet, guards, transactional apply (to come: issue 4)."""

"""Kernel tasks: Linux from Debian's ``linux-source`` package, KUnit on User Mode Linux.

``source``
    fetch the pinned ``linux-source-X.Y`` binary package with apt, check its
    sha256, unpack the tarball it carries.
``layer``
    the project layer: a UML KUnit build done once in the sandbox (the build
    directory kept, so a task step is an incremental rebuild), a compilation
    database for clangd, the tree trimmed to what that build reads.
``suites``
    the KUnit suites covered and the functions under test.
``faults``
    pure: emptied bodies and injected faults, as unified diffs.
``generate``
    validate every fault against its suite and write the dataset.
"""

"""How to build, test and sanitize a project, and which of its files to mine for tasks.

A profile's ``setup`` configures and builds two out-of-tree builds once,
plain (``build/``) and sanitized (``build-asan/``), so every task step is an
incremental rebuild of what the agent touched.  ``build`` and ``sanitize``
configure on their own when the tree was not set up (a copy made without
the project layer), so a task runs either way.  The presets are the
projects the datasets under ``datasets/oss-*`` were generated from.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from lanser.errors import BadRequest

__all__ = ["PRESETS", "SANITIZER_ENV", "SANITIZER_FLAGS", "Profile", "cmake_profile", "preset"]

#: Compile and link flags of the sanitized build.  -O0 (not -O1) keeps the
#: rebuild of a task step short; ASan and UBSan catch the same faults.
SANITIZER_FLAGS = "-O0 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
#: UBSan changes no exit code without halt_on_error; allocator_may_return_null
#: lets tests that check allocation failure (json-c's test_util_file) run as written.
SANITIZER_ENV = (
    "ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1"
)


@dataclass(frozen=True)
class Profile:
    name: str
    setup: str
    build: str
    test: str
    sanitize: str
    #: Library sources whose functions become tasks (paths relative to the source root).
    files: tuple[str, ...]
    #: Where callers are looked for besides ``files`` (tests, tools).
    caller_globs: tuple[str, ...] = ("**/*.c",)
    wall_s: float = 300.0
    memory_mb: int = 1024

    def with_overrides(self, **fields: object) -> Profile:
        return replace(self, **{k: v for k, v in fields.items() if v not in (None, ())})  # type: ignore[arg-type]


def cmake_profile(name: str, files: tuple[str, ...], options: str) -> Profile:
    """A CMake + CTest project: plain and sanitized build trees, compile_commands.json at the root."""
    base = f"-DCMAKE_EXPORT_COMPILE_COMMANDS=ON {options}"
    plain = f"cmake -S . -B build {base} >/dev/null"
    san = (
        f"cmake -S . -B build-asan {base} -DCMAKE_C_FLAGS='{SANITIZER_FLAGS}' "
        "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined "
        "-DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=address,undefined >/dev/null"
    )
    return Profile(
        name=name,
        setup=(
            f"{plain} && cmake --build build -j2 >/dev/null && {san} && cmake --build build-asan -j2 >/dev/null "
            "&& cp build/compile_commands.json compile_commands.json"
        ),
        build=f"(test -f build/CMakeCache.txt || {plain}) && cmake --build build",
        test="cd build && ctest --output-on-failure --timeout 60",
        sanitize=(
            f"(test -f build-asan/CMakeCache.txt || {san}) && cmake --build build-asan >/dev/null "
            f"&& cd build-asan && {SANITIZER_ENV} ctest --output-on-failure --timeout 60"
        ),
        files=files,
    )


PRESETS: dict[str, Profile] = {
    # cJSON's own warning set ends in -Werror: a stubbed body leaves unused
    # static helpers, which must be a warning the agent sees, not a broken build.
    "cjson": cmake_profile(
        "cjson",
        ("cJSON.c", "cJSON_Utils.c"),
        "-DENABLE_CUSTOM_COMPILER_FLAGS=Off -DENABLE_CJSON_UTILS=On -DENABLE_CJSON_TEST=On",
    ),
    "json-c": cmake_profile(
        "json-c",
        (
            "arraylist.c",
            "json_object.c",
            "json_object_iterator.c",
            "json_pointer.c",
            "json_tokener.c",
            "json_util.c",
            "json_visit.c",
            "linkhash.c",
            "printbuf.c",
        ),
        "-DDISABLE_WERROR=ON -DBUILD_STATIC_LIBS=OFF",
    ),
    # Shared libraries: a task step relinks the library, not the ~20 test programs.
    "jansson": cmake_profile(
        "jansson",
        tuple(
            f"src/{n}.c"
            for n in (
                "dump",
                "error",
                "hashtable",
                "hashtable_seed",
                "load",
                "memory",
                "pack_unpack",
                "strbuffer",
                "strconv",
                "utf",
                "value",
            )
        ),
        "-DJANSSON_BUILD_DOCS=OFF -DJANSSON_EXAMPLES=OFF -DJANSSON_BUILD_SHARED_LIBS=ON",
    ),
}


def preset(name: str) -> Profile:
    try:
        return PRESETS[name]
    except KeyError:
        raise BadRequest(f"no preset {name!r}; known: {', '.join(sorted(PRESETS))}") from None

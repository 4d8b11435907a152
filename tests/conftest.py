"""Shared test configuration: the repository root on sys.path (for tests.s3server and friends)."""
import os
import sys
from pathlib import Path

# Cheap Argon2 parameters for the many users tests create (production keeps the library's defaults).
os.environ.setdefault("DMS_ARGON2_PROFILE", "CHEAPEST")
# Signing keys under the passphrase-grade PBKDF2 count, not the PIN-grade one (signing.pki.USER_PIN_KDF_ITERATIONS).
os.environ.setdefault("DMS_PIN_KDF_ITERATIONS", "600000")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _share_compiled_routes_and_templates() -> None:
    """Every test builds its own application (create_app), and each build compiled the same ~200 URL rules and, on
    its first requests, the same templates again: 0.10 s of create_app and 0.04 s of a test's first two pages, in
    most of the ~1,200 application tests of a CI run (measured in-process: create_app median 0.107 s -> 0.016 s).
    Within one test process both are now compiled once and shared; neither holds per-application state:

    - a URL rule's URL builder is generated Python code that depends only on the rule's text, its parsed parts and
      its default names (its converters are reached through the rule it is bound to), so rules with equal inputs
      share the compiled function (a rule whose default fills one of its own variables is compiled as before);
    - templates go through an in-memory Jinja bytecode cache keyed by template name and the environment's
      compile-time options, checked against the source's checksum."""
    import jinja2
    from flask import Flask
    from werkzeug.routing import rules

    compile_builder = rules.Rule._compile_builder
    builders: dict = {}

    def shared_builder(self, append_unknown: bool = True):  # noqa: ANN001, ANN202
        defaults = self.defaults or {}
        if any(dynamic and name in defaults for dynamic, name in self._trace):
            return compile_builder(self, append_unknown)
        key = (self.rule, tuple(self._trace), tuple(defaults), append_unknown)
        if key not in builders:
            builders[key] = compile_builder(self, append_unknown)
        return builders[key]

    class Templates(jinja2.BytecodeCache):
        def __init__(self) -> None:
            self.compiled: dict[tuple, tuple[str, object]] = {}

        @staticmethod
        def _key(bucket: jinja2.bccache.Bucket) -> tuple:
            """The template, and what of its environment the compiled code depends on (a test may set
            `finalize`, as tests/browser/test_crawl.py does, or other options: that is a different compilation)."""
            env = bucket.environment
            autoescape = getattr(env.autoescape, "__qualname__", env.autoescape)  # Flask's: by the file's suffix
            return (bucket.key, env.finalize, autoescape, env.is_async, env.optimized, env.trim_blocks,
                    env.lstrip_blocks, env.keep_trailing_newline, env.newline_sequence, env.block_start_string,
                    env.block_end_string, env.variable_start_string, env.variable_end_string,
                    env.comment_start_string, env.comment_end_string, env.line_statement_prefix,
                    env.line_comment_prefix, tuple(sorted(env.extensions)), getattr(env, "newstyle_gettext", None),
                    repr(sorted(env.policies.items())))

        def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            found = self.compiled.get(self._key(bucket))
            if found is not None and found[0] == bucket.checksum:
                bucket.code = found[1]

        def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            self.compiled[self._key(bucket)] = (bucket.checksum, bucket.code)

    templates = Templates()
    create_jinja_environment = Flask.create_jinja_environment

    def with_shared_templates(self):  # noqa: ANN001, ANN202
        environment = create_jinja_environment(self)
        environment.bytecode_cache = templates
        return environment

    rules.Rule._compile_builder = shared_builder  # type: ignore[method-assign]
    Flask.create_jinja_environment = with_shared_templates  # type: ignore[method-assign]


_share_compiled_routes_and_templates()

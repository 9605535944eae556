"""Build a td_plugins model in a fresh process with one codebase hidden."""
import subprocess
import sys
import textwrap


def build_without(codebase: str, type_name: str) -> str:
    """Hide ``codebase``, import td_plugins and build ``type_name``; returns
    'refused' when the build raised the ImportError naming the package."""
    code = textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] == {codebase!r}:
                    raise ImportError(name)
        sys.meta_path.insert(0, Block())
        import td_plugins
        from td_plugins.registry import MODELS
        assert {codebase!r} not in sys.modules
        try:
            MODELS.build(dict(type={type_name!r}))
        except ImportError as e:
            assert 'pip install {codebase}' in str(e), e
            print('refused')
        """)
    return subprocess.run([sys.executable, '-c', code], check=True,
                          capture_output=True, text=True).stdout.strip()

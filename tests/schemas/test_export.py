from pathlib import Path

from schemas.export import exported_schemas

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "schemas"


def test_checked_in_json_schemas_are_current():
    for stem, text in exported_schemas().items():
        path = DEPLOY / f"{stem}.schema.json"
        assert path.exists(), f"{path} missing: run 'forewarn schema export'"
        assert path.read_text() == text, f"{path} is stale: run 'forewarn schema export' and commit it"

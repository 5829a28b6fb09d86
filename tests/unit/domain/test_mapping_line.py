"""The config.toml line an unmapped code's quarantine reason gives (issue 10 item 9)."""

import tomllib

import pytest

from monitor.domain.codes import Code, CodeMap, mapping_line


@pytest.mark.parametrize(
    ("codes", "source"),
    [
        ((Code("L", "PLT", "Platelets"),), "citylab"),
        ((Code("", 'P"L\\T'),), "lab \t one"),
        ((Code("99LAB", "tc"), Code("LN", "26515-7")), "ÜNI-LAB"),
        ((Code("LN", "26515-7"),), "citylab"),
    ],
)
def test_the_line_is_valid_toml_and_maps_the_code_once_an_analyte_is_named(codes, source):
    line = mapping_line(codes, source)
    table, mapping = line.split("] ", 1)
    data = tomllib.loads(f"{table}]\n{mapping.replace('<analyte>', 'platelets')}\n")
    codes_config = data["codes"]
    code_map = CodeMap(loinc=codes_config.get("loinc", {}), local=codes_config.get("local", {}))
    assert code_map.analyte_for(codes, source) is not None


def test_a_local_code_is_preferred_to_an_unknown_loinc_and_no_code_gives_no_line():
    codes = (Code("LN", "26515-7"), Code("99LAB", "TC"))
    assert mapping_line(codes, "citylab") == '[codes.local.citylab] TC = "<analyte>"'
    assert mapping_line((Code("", " "),), "citylab") is None

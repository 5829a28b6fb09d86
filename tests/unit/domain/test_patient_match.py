"""Positive patient identification, the pure comparison (issue 10 item 1)."""

from datetime import date

import pytest

from monitor.domain.patient_match import (
    IdentityCheck,
    family_name_fits,
    fold_name,
    identity_mismatch,
)

BOTH = IdentityCheck.DOB_AND_FAMILY
BORN = date(1984, 5, 2)


def mismatch(check=BOTH, born=None, families=(), born_on=BORN, name="Ann Example"):
    return identity_mismatch(
        check, stated_born=born, stated_families=families, born_on=born_on, name=name
    )


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("Ann Example", "Example"),
        ("Ann Example", "EXAMPLE"),
        ("Ann Example", " example "),
        ("Jean-Luc de la Tour", "de la Tour"),
        ("Jean-Luc de la Tour", "DE LA TOUR"),
        ("Jean-Luc de la Tour", "Delatour"),
        ("Jean-Luc de la Tour", "de-la-Tour"),
        ("Jean-Luc de la Tour", "Tour"),
        ("José Núñez", "NUNEZ"),
        ("Mary Smith-Jones", "Smith Jones"),
        ("Mary O'Brien", "OBRIEN"),
        ("de la Tour, Jean-Luc", "DELATOUR"),
        ("Madonna", "madonna"),
    ],
)
def test_the_family_name_matches_whatever_its_case_accents_spaces_and_hyphens(name, family):
    assert family_name_fits((family,), name)


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("Ann Example", "Ann"),  # the given name is not the family name
        ("Ann Example", "Sample"),
        ("Ann Example", "Examples"),
        ("Jean-Luc de la Tour", "Jean-Luc"),
        ("Jean-Luc de la Tour", "Luc de la Tour"),
        ("Jean-Luc de la Tour", "Jean-Luc de la Tour"),
        ("de la Tour, Jean-Luc", "Jean-Luc"),
    ],
)
def test_another_family_name_does_not_match(name, family):
    assert not family_name_fits((family,), name)


def test_any_of_several_family_names_may_match_and_none_given_is_no_mismatch():
    assert family_name_fits(("Smith", "Example"), "Ann Example")
    assert family_name_fits((), "Ann Example")
    assert family_name_fits(("", " - "), "Ann Example")


def test_dates_of_birth_compare_at_their_own_precision():
    assert mismatch(born="1984-05-02") is None
    assert mismatch(born="1984-05") is None
    assert mismatch(born="1984") is None
    assert mismatch(born="1984-05-03") == "identity mismatch: date of birth differs"
    assert mismatch(born="1985") == "identity mismatch: date of birth differs"


def test_a_record_without_a_date_of_birth_cannot_disagree_with_one():
    assert mismatch(born="1900-01-01", born_on=None) is None
    assert mismatch(born="DOB", born_on=None) is None


def test_an_unreadable_date_of_birth_is_not_taken_as_a_match():
    for text in ("DOB", "1984-13-01", "1984-02-30", "02/05/1984"):
        assert "unreadable" in mismatch(born=text)


def test_the_reason_names_what_differs_never_the_values():
    assert mismatch(families=("Sample",)) == "identity mismatch: family name differs"
    both = mismatch(born="1990-01-01", families=("Sample",))
    assert both == "identity mismatch: date of birth and family name differ"
    assert "1990" not in both and "Sample" not in both


def test_the_check_setting():
    assert mismatch(IdentityCheck.DOB, born="1984-05-02", families=("Sample",)) is None
    assert mismatch(IdentityCheck.DOB, born="1990") == "identity mismatch: date of birth differs"
    assert mismatch(IdentityCheck.OFF, born="1990", families=("Sample",)) is None


def test_folding():
    assert fold_name("Núñez-Ôde d'Arc") == "nunezodedarc"
    assert fold_name("STRAẞE") == fold_name("strasse")

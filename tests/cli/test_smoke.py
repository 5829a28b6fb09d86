import json


def test_it_adds_a_patient_course_and_result_and_shows_the_schedule(cli):
    cli.ok("patient", "add", "A1", "--name", "Ann Example", "--sex", "F")
    cli.ok("course", "add", "A1", "--start", "2024-01-08", "--days", "5")
    cli.ok(
        "result",
        "add",
        "A1",
        "--analyte",
        "platelets",
        "--value",
        "210",
        "--unit",
        "K/uL",
        "--collected",
        "2024-02-12",
    )
    data = json.loads(cli.ok("schedule", "A1", "--as-of", "2024-02-20", "--json"))
    assert data["monitoring_end"] == "2028-01-12"
    first_cbc = next(s for s in data["slots"] if s["panel"] == "cbc" and s["kind"] == "recurring")
    assert first_cbc["due_on"] == "2024-02-12"
    assert first_cbc["status"] == "overdue"

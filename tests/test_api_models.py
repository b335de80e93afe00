"""The API's models are its contract: a refused field is named by its path, in the caller's language, and the
document generated from the models is valid OpenAPI 3.1."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from tests.fixtures.media import make_jpeg


def error_of(response) -> dict:
    assert response.status_code == 400, (response.status_code, response.get_data(as_text=True))
    return response.get_json()["error"]


def transform(kim, photo_id, transformations, **headers):
    return kim.test_client.post(f"/api/v1/images/{photo_id}/transform", headers={**kim.headers, **headers},
                                json={"transformations": transformations})


def test_a_nested_bad_field_is_named_by_its_path(kim):
    photo = kim.upload(make_jpeg()).get_json()
    error = error_of(transform(kim, photo["id"], {"resize": {"width": "wide"}}))
    assert error["field"] == "transformations.resize.width"
    assert error["code"] == "invalid_transformation" and "transformations.resize.width" in error["message"]
    assert kim.get(f"/api/v1/images/{photo['id']}/variants").get_json()["items"] == []


def test_a_nested_unknown_field_is_refused_by_its_path(kim):
    photo = kim.upload(make_jpeg()).get_json()
    error = error_of(transform(kim, photo["id"], {"crop": {"x": 0, "y": 0, "width": 5, "height": 5, "z": 1}}))
    assert error["field"] == "transformations.crop.z"


@pytest.mark.parametrize("method, path, body", [
    ("patch", "/api/v1/account", {"colour": "red"}),
    ("post", "/api/v1/albums", {"title": "Holidays", "colour": "red"}),
    ("post", "/api/v1/api-keys", {"name": "ShareX", "colour": "red"}),
    ("post", "/api/v1/auth/change-password", {"current_password": "x", "new_password": "y", "colour": "red"}),
    ("post", "/api/v1/auth/logout", {"colour": "red"}),
])
def test_unknown_fields_are_refused_by_name(kim, method, path, body):
    response = getattr(kim.test_client, method)(path, headers=kim.headers, json=body)
    error = error_of(response)
    assert (error["code"], error["field"]) == ("unknown_field", "colour") and "colour" in error["message"]


def test_unknown_fields_of_a_photo_are_refused(kim):
    photo = kim.upload(make_jpeg()).get_json()
    response = kim.test_client.patch(f"/api/v1/images/{photo['id']}", headers=kim.headers, json={"colour": "red"})
    assert error_of(response)["code"] == "unknown_field"


def test_a_refused_field_is_explained_in_the_callers_language(kim):
    response = kim.test_client.post("/api/v1/albums", headers={**kim.headers, "Accept-Language": "de"},
                                    json={"title": "Urlaub", "description": 5})
    error = error_of(response)
    assert error == {"code": "invalid_field", "field": "description", "message": "description muss Text enthalten."}


def test_a_missing_nested_field_is_named_in_german(kim):
    photo = kim.upload(make_jpeg()).get_json()
    error = error_of(transform(kim, photo["id"], {"resize": {"width": 0}}, **{"Accept-Language": "de"}))
    assert error["field"] == "transformations.resize.width"
    assert error["message"] == "transformations.resize.width muss mindestens 1 sein."


def test_the_generated_document_is_valid_openapi_3_1(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"] == "3.1.0"
    try:
        validate(document)
    except OpenAPIValidationError as error:  # pragma: no cover - the message is the useful part
        pytest.fail(str(error))


def test_the_document_describes_bodies_errors_and_examples(client):
    document = client.get("/api/v1/openapi.json").get_json()
    transform_op = document["paths"]["/api/v1/images/{media_id}/transform"]["post"]
    assert set(transform_op["responses"]) >= {"200", "201", "400", "401", "404", "415", "429", "503"}
    assert transform_op["responses"]["429"]["headers"]["Retry-After"]
    schemas = document["components"]["schemas"]
    assert schemas["Transformations"]["additionalProperties"] is False
    assert schemas["Resize"]["properties"]["width"]["maximum"] == 65535
    assert schemas["TransformRequest"]["examples"]
    assert schemas["Error"]["properties"]["error"]["$ref"].endswith("/ErrorDetail")
    logout = document["paths"]["/api/v1/auth/logout"]["post"]
    assert logout["requestBody"]["required"] is False
    assert document["paths"]["/api/v1/auth/login"]["post"]["security"] == []

from tests.fixtures.media import make_jpeg


def test_smoke(app, kim, client):
    from webapp.extensions import db
    from webapp.models import User
    from webapp.shares import service

    image = kim.upload(make_jpeg()).get_json()
    with app.app_context():
        owner = db.session.get(User, kim.id)
        link = service.create_share(owner, service.Target(media_id=image["id"]), service.Options())
        token = link.token
    page = client.get(f"/s/{token}")
    assert page.status_code == 200, page.get_data(as_text=True)[:2000]
    assert client.get(f"/s/{token}/p/{image['id']}/large").status_code == 200
    assert client.get(f"/s/{token}/p/{image['id']}/original").status_code == 200
    assert client.get(f"/s/{token}/zip").status_code == 200
    assert client.get(f"/s/nope").status_code == 404

"""People through the API (docs/people.md): list them and their photos, add and delete photos,
remove a person, and correct a prediction. The views only parse and format; the data folder is
service/people.py's, the photo checks service/screening.py's."""

from __future__ import annotations

from flask import Blueprint, Response, request

from service.auth import ADMIN, READ_METHODS, authenticate, authorize
from service.errors import UnsupportedMediaType
from service.people import NotFound, PhotoStore, check_name
from service.roster import people, person_photos, version_quality
from service.runtime import runtime
from service.screening import media_type
from service.uploads import read_box, read_image, read_person



def guarded(blueprint: Blueprint) -> Blueprint:
    """The people and trainer routes' two hooks: every request authorized (reads any key, changes
    an admin key with enrolment on), every change counted by operation and outcome."""

    @blueprint.before_request
    def _authorize() -> None:
        authorize(request, runtime().config)

    @blueprint.after_request
    def _count(response: Response) -> Response:
        if request.method not in READ_METHODS:
            runtime().metrics.count_people_write(request.endpoint.rpartition(".")[2], response)
        return response

    return blueprint


people_api = guarded(Blueprint("people_api", __name__, url_prefix="/v1"))


@people_api.get("/people")
def list_people():
    """Everyone in the data folder or known to the serving model."""
    state = runtime()
    served = state.backend.current()
    quality = version_quality(state.config.model_base_path, served)
    # can_edit: whether this request's key would be allowed a change, so that a page shows
    # editing controls to admins only instead of finding out at the first refused change.
    can_edit = state.config.enrolment and authenticate(request, state.config) == ADMIN
    return {"enrolment": state.config.enrolment, "can_edit": can_edit,
            "model": {"name": served.name, "version": served.version},
            "people": people(state.store, served, quality)}


@people_api.get("/people/<name>")
def person(name: str):
    state = runtime()
    check_name(name)
    return {"name": name, "photos": person_photos(state.store, state.backend.current(), name)}


@people_api.get("/people/<name>/photos/<path:photo>")
def photo(name: str, photo: str):
    """The photo's bytes as kept, for thumbnails."""
    data = _store().photo(name, photo).read_bytes()
    return Response(data, mimetype=media_type(data), headers={"X-Content-Type-Options": "nosniff"})


@people_api.post("/people/<name>/photos")
def add_photo(name: str):
    """Keep one photo of `name` if it shows exactly one face, large enough, not kept already."""
    state = runtime()
    check_name(name)
    screened = state.screen.photo(read_image(request), state.backend.current().info)
    kept = _store().keep(name, screened.data, screened.digest, screened.extension)
    return {"person": kept.person, "photo": {"id": kept.photo}}, 201


@people_api.delete("/people/<name>/photos/<path:photo>")
def delete_photo(name: str, photo: str):
    _store().delete_photo(name, photo)
    return "", 204


@people_api.delete("/people/<name>")
def remove_person(name: str):
    """Set the person's folder aside (DATA/.removed/); the trainer drops them from the next version."""
    _store().remove_person(name)
    return "", 204


@people_api.post("/corrections")
def correct():
    """Keep the face at a box of a photo as `person`'s, or as a stranger's when `person` is empty."""
    state = runtime()
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType("a correction is multipart/form-data: the photo as `image`, the box as "
                                   "x, y, width and height, and `person`")
    box, person_name = read_box(request), read_person(request)
    if person_name is not None:
        check_name(person_name)
    screened = state.screen.correction(read_image(request), box, state.backend.current().info)
    kept = _store().keep(person_name, screened.data, screened.digest, screened.extension)
    return {"person": kept.person, "photo": {"id": kept.photo}}, 201


def _store() -> PhotoStore:
    store = runtime().store
    if store is None:
        raise NotFound("this service has no data folder (DATA_DIR is not set)")
    return store

"""The library router: /api/v1/library/..."""

from ninja import File, Router, Status
from ninja.files import UploadedFile

from jobs import services as job_services
from jobs.schemas import ErrorOut, JobCreated

from ..uploads import validate_media_upload

router = Router(tags=["videos"])
CREATE_ERRORS = {401: ErrorOut, 413: ErrorOut, 415: ErrorOut, 422: ErrorOut, 503: ErrorOut}


@router.post(
    "/videos/info",
    response={202: JobCreated, **CREATE_ERRORS},
    summary="Media info of an uploaded video (a probe job)",
)
def video_info(request, file: File[UploadedFile]):
    validate_media_upload(file)
    job = job_services.job_create(job_type="probe", owner=request.auth, inputs={"source": file})
    return Status(202, JobCreated.for_job(job))

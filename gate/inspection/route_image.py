"""What an image's reference, labels, ENV and history say about how its OTP was built."""

from __future__ import annotations

from gate.model.route import BuildRoute, Confidence, ImageMetadata, RouteEvidence


def _image_repository(reference: str) -> tuple[str, str]:
    """("hexpm/erlang", "27.1-debian-bookworm-20240926") from any spelling of a reference."""
    ref = reference.split("@", 1)[0]
    name, tag = ref, ""
    if ":" in ref.rsplit("/", 1)[-1]:
        name, tag = ref.rsplit(":", 1)
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]  # drop the registry host
    if parts[:1] == ["library"]:
        parts = parts[1:]
    return "/".join(parts).lower(), tag.lower()


def image_route(
    image: ImageMetadata,
) -> tuple[BuildRoute, Confidence, list[RouteEvidence], str | None]:
    ev: list[RouteEvidence] = []
    distro: str | None = None
    if image.reference:
        repo, tag = _image_repository(image.reference)
        if repo in ("hexpm/erlang", "hexpm/elixir"):
            for os_name in ("ubuntu", "debian", "alpine"):
                if f"-{os_name}-" in f"-{tag}-":
                    distro = os_name
            ev.append(RouteEvidence("image", f"image reference {image.reference}"))
            return BuildRoute.HEXPM_IMAGE, Confidence.HIGH, ev, distro
        if repo in ("erlang", "elixir"):
            distro = "alpine" if "alpine" in tag else "debian"
            ev.append(RouteEvidence("image", f"Docker Official Image {image.reference}"))
            return BuildRoute.OFFICIAL_ERLANG_IMAGE, Confidence.HIGH, ev, distro
    for key, value in image.labels:
        low = value.lower()
        if "hexpm/bob" in low:
            ev.append(RouteEvidence("image", f"label {key}={value}"))
            return BuildRoute.HEXPM_IMAGE, Confidence.HIGH, ev, None
        if "erlang/docker-erlang-otp" in low:
            ev.append(RouteEvidence("image", f"label {key}={value}"))
            return BuildRoute.OFFICIAL_ERLANG_IMAGE, Confidence.HIGH, ev, None
    otp_env = image.env_value("OTP_VERSION")
    official_layer = next((h for h in image.history if "OTP_DOWNLOAD_SHA256" in h), None)
    if otp_env is not None and official_layer is not None:
        ev.append(RouteEvidence("image", f"ENV OTP_VERSION={otp_env}"))
        ev.append(
            RouteEvidence(
                "image",
                "a layer downloads OTP-${OTP_VERSION} and checks "
                "OTP_DOWNLOAD_SHA256, as the official erlang Dockerfile does",
            )
        )
        return BuildRoute.OFFICIAL_ERLANG_IMAGE, Confidence.HIGH, ev, None
    if otp_env is not None:
        ev.append(
            RouteEvidence(
                "image",
                f"ENV OTP_VERSION={otp_env} (as the official erlang "
                "images set it; other images copy the name)",
            )
        )
        return BuildRoute.OFFICIAL_ERLANG_IMAGE, Confidence.LOW, ev, None
    return BuildRoute.UNKNOWN, Confidence.NONE, ev, None

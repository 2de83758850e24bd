"""Where a runtime comes from: directory, tarball, distro packages, image, prebuilt, source build."""

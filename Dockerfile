# syntax=docker/dockerfile:1

# Berth registry image: a static binary on a distroless base, running as
# uid 65532, data in the /var/lib/registry volume.
#
#   docker build -t berth-registry --build-arg VERSION=$(git describe --tags) .
#   docker run -p 5000:5000 -v berth-data:/var/lib/registry berth-registry
#
# Configuration: /etc/berth/config.yml (from cmd/registry/config-docker.yml);
# override keys with REGISTRY_* variables (-e REGISTRY_LOG_LEVEL=debug) or
# mount another file over it. Multi-platform builds (buildx --platform)
# cross-compile on the build host.
#
# On SIGTERM the registry drains requests for up to http.draintimeout (25s
# in the baked configuration). docker stop sends SIGKILL after 10s unless
# given -t/--stop-timeout, Kubernetes after terminationGracePeriodSeconds
# (30s): keep the drain shorter than the grace period.

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=""
WORKDIR /src
# Dependencies first, so that they stay cached while the code changes.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/registry ./cmd/registry
# An empty directory to become the volume, owned by the runtime user: a
# named volume starts with the ownership of the image's directory.
RUN mkdir -p /out/registry-data

# distroless/static: no shell or package manager; CA certificates, tzdata,
# and /etc/passwd with the "nonroot" user 65532. Pin it by digest in
# release builds.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/registry /registry
COPY cmd/registry/config-docker.yml /etc/berth/config.yml
COPY --from=build --chown=65532:65532 /out/registry-data /var/lib/registry
USER 65532:65532
VOLUME /var/lib/registry
EXPOSE 5000
ENTRYPOINT ["/registry"]
CMD ["serve", "/etc/berth/config.yml"]

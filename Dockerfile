# syntax=docker/dockerfile:1
# sync as a container image: built with the .NET SDK, run on the chiseled .NET runtime
# (no shell, no package manager, a non-root user). compose/docker-compose.yml builds it:
#   docker build -t cdc-sync --build-arg SOURCE_REVISION=$(git rev-parse HEAD) .
#   docker run --rm -v "$PWD/compose/sync.yaml:/config/sync.yaml:ro" cdc-sync validate --config /config/sync.yaml

# --- build: restore from the project files first, so that a source change reuses the restore layer.
FROM --platform=$BUILDPLATFORM mcr.microsoft.com/dotnet/sdk:10.0 AS build
ARG TARGETARCH
WORKDIR /src
COPY global.json Directory.Build.props Directory.Packages.props ./
COPY src/Sync.Cli/Sync.Cli.csproj src/Sync.Cli/
COPY src/Sync.Engine/Sync.Engine.csproj src/Sync.Engine/
COPY src/Sinks/Sync.Sinks.csproj src/Sinks/
COPY src/Sources/Sync.Sources.csproj src/Sources/
COPY src/Compliance/Sync.Compliance.csproj src/Compliance/
COPY src/Pulsar/Sync.Pulsar.csproj src/Pulsar/
RUN dotnet restore src/Sync.Cli/Sync.Cli.csproj -a "$TARGETARCH"
COPY src/ src/
# The commit for `sync --version` (0.1.0+<commit>): the build context has no .git folder.
ARG SOURCE_REVISION=
RUN dotnet publish src/Sync.Cli/Sync.Cli.csproj --no-restore -c Release -a "$TARGETARCH" --self-contained false \
      -o /app -p:SourceRevisionId="$SOURCE_REVISION" -p:DebugType=none -p:GenerateDocumentationFile=false \
 && mkdir -p /data

# --- runtime: the .NET runtime only, chiseled (distroless) Ubuntu; runs as the image's `app` user.
FROM mcr.microsoft.com/dotnet/runtime:10.0-noble-chiseled AS runtime
WORKDIR /app
COPY --from=build /app ./
# Ledger, dead letters and reports go to /data (a volume in compose), owned by the app user
# (1654, $APP_UID of the .NET images).
COPY --from=build --chown=1654:1654 /data /data
USER $APP_UID
ENV DOTNET_ROOT=/usr/share/dotnet \
    PATH=/app:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    DOTNET_NOLOGO=1 \
    DOTNET_CLI_TELEMETRY_OPTOUT=1
VOLUME ["/data"]
# Liveness of `sync run --metrics-port 9464` (compose and deploy/kubernetes run it so). The image has
# no shell, curl or wget, so the CLI asks its own /healthz: `sync healthcheck` exits 0 on a 200.
# Run with another port: override the check (compose `healthcheck.test`, docker run --health-cmd).
# Other commands (erase, status, ...) have no metrics server and are never healthy: that is expected
# for one-off containers, which end before the first check matters.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
  CMD ["/app/sync", "healthcheck", "--port", "9464", "--path", "/healthz"]
ENTRYPOINT ["/app/sync"]
CMD ["--help"]

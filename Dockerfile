# Pollen's image for those who build with docker (or podman): the same image as the Jib one (module image/, the
# README's "Container image"): dfdaemon, dfget and scheduler in /opt/pollen/bin, every jar in /opt/pollen/libs,
# user 65532, dfdaemon the entrypoint. The base images are build arguments:
#   docker build -t pollen .                                        # builds the jars too, on BUILD_IMAGE
#   docker build --target prebuilt -t pollen .                      # from image/target/pollen.tar.gz (bin/build)
#   docker build --build-arg BASE_IMAGE=registry.example.com/temurin:25-jre -t pollen .
ARG BUILD_IMAGE=eclipse-temurin:25-jdk
ARG BASE_IMAGE=eclipse-temurin:25-jre

# The installed layout, built with the Maven wrapper: image/target/pollen.tar.gz, unpacked to /out/pollen.
FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY . .
RUN ./mvnw -B -q -pl image -am package -DskipTests && mkdir /out && tar -xzf image/target/pollen.tar.gz -C /out

# What image/pom.xml's Jib <container> says, the layout aside.
FROM ${BASE_IMAGE} AS runtime
ENV PATH=/opt/pollen/bin:/opt/java/bin:/usr/local/bin:/usr/bin:/bin \
    HOME=/tmp \
    XDG_CACHE_HOME=/tmp/.cache
USER 65532:65532
ENTRYPOINT ["/opt/pollen/bin/dfdaemon"]

# The layout a build on the host made (ADD unpacks the tarball): no JDK or Maven in the build.
FROM runtime AS prebuilt
ADD image/target/pollen.tar.gz /opt/

# The default target: the layout built in the first stage.
FROM runtime AS from-source
COPY --from=build /out/pollen /opt/pollen

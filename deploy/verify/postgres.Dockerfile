# A local stand-in for the upstream PostgreSQL images, for deploy/verify-containers only: Debian's own
# postgresql-15 (from a debootstrap root filesystem imported as BASE) with an entrypoint that honours the
# subset of the official image's interface the compose stack uses (POSTGRES_USER, POSTGRES_PASSWORD,
# POSTGRES_DB, POSTGRES_INITDB_ARGS, PGDATA, first-run initialisation, pg_isready on PATH, SIGINT stop).
ARG BASE=dovetail-local/postgres-rootfs:15
FROM ${BASE}
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data \
    LANG=C.UTF-8
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
# The package's own cluster is not used: the entrypoint initialises PGDATA on first start.
RUN rm -rf /var/lib/postgresql/15 /etc/postgresql/15 \
    && install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/data \
    && install -d -o postgres -g postgres -m 2775 /var/run/postgresql
VOLUME ["/var/lib/postgresql/data"]
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]

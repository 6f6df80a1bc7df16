#!/bin/sh
# One-shot set-up of the compose stack, run by its `init` service from the cloud image before
# the cloud starts: makes `docker compose up` work on a fresh checkout with nothing exported.
#  - generates the operators' admin token into SECRETS_DIR/admin-token unless it is there;
#  - registers the simulated vehicle SIM_VEHICLE and writes its token to FLEET_DIR/VEHICLE.token
#    unless that file is there (a vehicle already in the database gets a new token instead).
# Both folders are named volumes, so a restart or a rebuild keeps them; `down -v` drops them.
# The database is the cloud's (DATABASE_URL, LATENTLINK_DATA_DIR), used through cloud-service.
set -eu
umask 077
admin=${SECRETS_DIR:-/secrets}/admin-token
vehicle=${SIM_VEHICLE:-sim-1}
vehicle_token=${FLEET_DIR:-/fleet}/$vehicle.token

if [ ! -s "$admin" ]; then
    python -c 'import secrets; print(secrets.token_urlsafe(32))' > "$admin.new"
    mv "$admin.new" "$admin"
    echo "init: generated the admin token"
fi
echo "init: the admin token (console sign-in, admin API) is read with:"
echo "init:   docker compose exec cloud cat $admin"

if [ ! -s "$vehicle_token" ]; then
    if cloud-service vehicles list | cut -f1 | grep -qx "$vehicle"; then
        issued=$(cloud-service vehicles rotate-token "$vehicle")
        echo "init: vehicle $vehicle was registered already: issued it a new token"
    else
        issued=$(cloud-service add-vehicle "$vehicle")
        echo "init: registered vehicle $vehicle"
    fi
    # The token is alone on the last line of either command's output.
    printf '%s\n' "$issued" | tail -n 1 > "$vehicle_token.new"
    mv "$vehicle_token.new" "$vehicle_token"
fi
echo "init: vehicle $vehicle's token is in $vehicle_token"

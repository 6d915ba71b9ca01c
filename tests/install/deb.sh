#!/bin/sh
# make deb's packages install with dpkg -i and run, then are purged again.
# usage: deb.sh BUILD_DIR FCU_TEST_DIR VECTORS
BUILD=$1 SRC=$2 VECTORS=$3
. "$SRC/lib.sh"
if [ "$(id -u)" -ne 0 ]; then
    echo "skip: dpkg -i needs root (CI runs as root)"
    exit 77
fi
PKGS="libkiln0 libkiln-dev kiln-tools kiln-factory-service python3-kiln-fcu"
purge() { dpkg --purge $PKGS >/dev/null 2>&1 || true; }
trap 'purge; rm -rf "$TMP_ROOT"' EXIT

check "cpack -G DEB builds the packages" sh -c "cd '$BUILD' && cpack -G DEB -B '$TMP_ROOT/deb' >'$TMP_ROOT/cpack.log' 2>&1"
for p in $PKGS; do
    check "package $p was built" sh -c "ls '$TMP_ROOT'/deb/${p}_*.deb"
done
check "the service package ships its unit, user and default config" sh -c \
    "dpkg-deb -c '$TMP_ROOT'/deb/kiln-factory-service_*.deb | grep -q 'lib/systemd/system/factory_service.service' &&
     dpkg-deb -c '$TMP_ROOT'/deb/kiln-factory-service_*.deb | grep -q 'lib/sysusers.d/kiln-sf.conf' &&
     dpkg-deb -c '$TMP_ROOT'/deb/kiln-factory-service_*.deb | grep -q 'etc/default/factory_service'"
purge
check "dpkg -i installs all five packages" sh -c "dpkg -i '$TMP_ROOT'/deb/*.deb >'$TMP_ROOT/dpkg.log' 2>&1 || { cat '$TMP_ROOT/dpkg.log'; false; }"
check "the service's user exists" getent passwd kiln-sf
check "systemd-analyze verify accepts the unit" systemd-analyze verify /usr/lib/systemd/system/factory_service.service
check "the installed factory_tool runs" sh -c "/usr/bin/factory_tool --help >/dev/null"
HOME_DIR=$(newhome deb)
check "the installed python3-kiln-fcu prepares a bundle the installed factory_client accepts" sh -c "
    cd / && FCU_HOME_DIR='$HOME_DIR' /usr/bin/python3 -c '
import fcu
api = fcu.FactoryToolApi()
api.setup_factory_configurator_utility()
open(\"$TMP_ROOT/deb.cbor\", \"wb\").write(api.prepare_device_configuration(\"deb-1\", \"SN\").config_data)
' && /usr/bin/factory_client --storage '$TMP_ROOT/dev' handle '$TMP_ROOT/deb.cbor' '$TMP_ROOT/deb.resp.cbor' &&
    /usr/bin/factory_tool --home-dir '$HOME_DIR' verify --endpoint-name deb-1 '$TMP_ROOT/deb.resp.cbor'"
check "a program builds with the installed pkg-config kiln-fcu" sh -c \
    "printf '#include <fcu/fcu.h>\nint main(void){fcu *f=fcu_open(0);fcu_close(f);return 0;}\n' > '$TMP_ROOT/p.c' &&
     cc -o '$TMP_ROOT/p' '$TMP_ROOT/p.c' \$(pkg-config --cflags --libs kiln-fcu) && '$TMP_ROOT/p'"
purge
check "dpkg --purge leaves no kiln program behind" sh -c "! test -e /usr/bin/factory_tool && ! test -e /usr/lib/libkiln-fcu.so.0"
finish

#!/bin/sh
# Inside with_softhsm.sh: a P-384 key made by pkcs11-tool (the wrong key type for kiln), the C
# test of the signer, then pkcs11-tool's view of the key kiln generated: never extractable,
# sensitive (the C test also reads its attributes and fails to read its value).
set -eu
test_bin=$1
m=$KILN_TEST_P11_MODULE
pkcs11-tool --module "$m" --token-label "$KILN_TEST_TOKEN" --login --pin "$KILN_TEST_PIN" \
    --keypairgen --key-type EC:secp384r1 --label p384 >/dev/null 2>&1
"$test_bin"
objects=$(pkcs11-tool --module "$m" --token-label "$KILN_TEST_TOKEN" --login --pin "$KILN_TEST_PIN" \
    --list-objects --type privkey 2>/dev/null)
echo "$objects" | grep -A8 "label:      ca-a" | grep -q "never extractable" ||
    { echo "ca-a is not marked never extractable:"; echo "$objects"; exit 1; }
echo "$objects" | grep -A8 "label:      ca-a" | grep -q "sensitive" ||
    { echo "ca-a is not sensitive"; exit 1; }
echo "pkcs11 signer: key in the token, never extractable"

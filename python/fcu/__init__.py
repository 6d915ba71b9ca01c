"""The kiln configurator from Python, with the original FCU's names.

    import fcu
    api = fcu.FactoryToolApi()          # FCU_HOME_DIR / fcu.yml, as the command line
    api.setup_factory_configurator_utility(override_existing_ca=False)
    req = api.prepare_device_configuration("ep-1", "SN-1")
    ... send req.config_data to the device, read its answer ...
    st = api.verify_device_response("ep-1", answer)

Every call is one call of libkiln-fcu (include/fcu/fcu.h) through cffi's ABI mode. A failure
raises FcuError, which carries the numbered code, the full message and the result object.
"""

import os

from cffi import FFI

from . import _build

__version__ = _build.VERSION

_ffi = FFI()
_ffi.cdef(
    """
    typedef struct fcu_notice { int code; char *message; } fcu_notice;
    typedef struct fcu_notice_list { fcu_notice *items; size_t count; } fcu_notice_list;
    typedef struct fcu fcu;
    typedef struct fcu_options {
        const char *home_dir; const char *resources_dir; const char *keystore_dir;
        const char *config_file;
    } fcu_options;
    fcu *fcu_open(const fcu_options *opts);
    void fcu_close(fcu *f);
    const char *fcu_home_dir(const fcu *f);
    const char *fcu_resources_dir(const fcu *f);
    const char *fcu_keystore_dir(const fcu *f);
    const char *fcu_config_file(const fcu *f);
    const char *fcu_status_name(int status);
    const char *fcu_status_template(int status);

    typedef struct fcu_ca_details {
        char *keystore_dir; char *certificate_file; char *csr_file; char *private_key_file;
        char *private_key_uri;
    } fcu_ca_details;
    typedef struct fcu_setup_status {
        int status; fcu_ca_details ca_details; fcu_notice_list errors; fcu_notice_list warnings;
    } fcu_setup_status;
    int fcu_setup(fcu *f, bool override_existing_ca, fcu_setup_status *out);
    int fcu_get_setup_status(fcu *f, fcu_setup_status *out);
    void fcu_setup_status_free(fcu_setup_status *s);

    typedef struct fcu_operation_context fcu_operation_context;
    void fcu_operation_context_free(fcu_operation_context *ctx);
    int fcu_operation_context_save(const fcu_operation_context *ctx, uint8_t **out,
                                   size_t *out_len);
    int fcu_operation_context_load(const uint8_t *data, size_t len, fcu_operation_context **out);

    typedef struct fcu_device_request {
        int status; uint8_t *config_data; size_t config_size;
        fcu_notice_list errors; fcu_notice_list warnings;
        char *enrollment_id; fcu_operation_context *operation_ctx;
    } fcu_device_request;
    int fcu_prepare_device_configuration(fcu *f, const char *endpoint_name,
                                         const char *serial_number,
                                         const char *device_keys_location,
                                         fcu_device_request *out);
    void fcu_device_request_free(fcu_device_request *r);

    typedef struct fcu_device_response_status {
        int status; char *message; fcu_notice_list errors; fcu_notice_list warnings;
        fcu_device_request *next_request;
    } fcu_device_response_status;
    int fcu_verify_device_response(fcu *f, const char *endpoint_name, const uint8_t *response,
                                   size_t response_len, const fcu_operation_context *ctx,
                                   fcu_device_response_status *out);
    void fcu_device_response_status_free(fcu_device_response_status *s);
    void free(void *p);
    """
)


def _load():
    explicit = os.environ.get("KILN_FCU_LIBRARY")
    if explicit:
        return _ffi.dlopen(explicit)
    here = os.path.dirname(os.path.abspath(__file__))
    beside = os.path.normpath(os.path.join(here, _build.LIBDIR_FROM_MODULE, _build.LIBRARY))
    if os.path.exists(beside):
        return _ffi.dlopen(beside)
    return _ffi.dlopen(_build.LIBRARY)  # the dynamic linker's search path


_lib = _load()
_libc = _ffi.dlopen(None)

_ffi.cdef(
    """
    int line_inject_one(fcu *f, const char *endpoint, const char *serial,
                        const char *device_keys_location, const char *address, double timeout,
                        int max_tries, int *device_status, char *message, size_t message_size);
    """
)
_line = None


def _line_lib():
    """libkiln-line, beside libkiln-fcu (loaded on the first inject only)."""
    global _line
    if _line is None:
        explicit = os.environ.get("KILN_LINE_LIBRARY")
        here = os.path.dirname(os.path.abspath(__file__))
        beside = os.path.normpath(os.path.join(here, _build.LIBDIR_FROM_MODULE,
                                               _build.LINE_LIBRARY))
        _line = _ffi.dlopen(explicit or (beside if os.path.exists(beside)
                                              else _build.LINE_LIBRARY))
    return _line


def _text(p):
    return None if p == _ffi.NULL else _ffi.string(p).decode("utf-8", "replace")


def _arg(s):
    if s is None:
        return _ffi.NULL
    if not isinstance(s, str):
        raise TypeError("expected str, got %s" % type(s).__name__)
    return s.encode("utf-8")


class ErrorInfo:
    """One error: its numbered code and full message."""

    def __init__(self, code, message):
        self.code = code
        self.message = message

    def __repr__(self):
        return "%s(%d, %r)" % (type(self).__name__, self.code, self.message)


class WarningInfo(ErrorInfo):
    """One warning (code 0 for plain device warnings)."""


def _notices(lst, cls):
    return [cls(lst.items[i].code, _text(lst.items[i].message)) for i in range(lst.count)]


class FcuError(Exception):
    """A call failed: code is the FCU or device status, result the call's result object."""

    def __init__(self, code, message, result=None):
        super().__init__("error %d: %s" % (code, message))
        self.code = code
        self.message = message
        self.result = result


def _raise_for(result):
    if result.status != 0:
        message = result.errors[0].message if result.errors else _text(
            _lib.fcu_status_template(result.status))
        raise FcuError(result.status, message, result)
    return result


class CaDetails:
    def __init__(self, d):
        self.keystore_dir = _text(d.keystore_dir)
        self.certificate_file = _text(d.certificate_file)
        self.csr_file = _text(d.csr_file)
        self.private_key_file = _text(d.private_key_file)
        self.private_key_uri = _text(d.private_key_uri)  # the key in a PKCS#11 token


class SetupStatus:
    def __init__(self, s):
        self.status = s.status
        self.ca_details = CaDetails(s.ca_details)
        self.errors = _notices(s.errors, ErrorInfo)
        self.warnings = _notices(s.warnings, WarningInfo)


class DeviceConfigurationRequest:
    """config_data: the CBOR bundle for the device; warning_list: validation warnings;
    operation_context: bytes to pass back to verify_device_response (by_device first step)."""

    def __init__(self, r):
        self.status = r.status
        self.config_data = bytes(_ffi.buffer(r.config_data, r.config_size)) if (
            r.config_data != _ffi.NULL) else b""
        self.errors = _notices(r.errors, ErrorInfo)
        self.warning_list = _notices(r.warnings, WarningInfo)
        self.warnings = self.warning_list
        self.enrollment_id = _text(r.enrollment_id)
        self.operation_context = None
        if r.operation_ctx != _ffi.NULL:
            out = _ffi.new("uint8_t **")
            n = _ffi.new("size_t *")
            if _lib.fcu_operation_context_save(r.operation_ctx, out, n) == 0:
                self.operation_context = bytes(_ffi.buffer(out[0], n[0]))
                _libc.free(out[0])


class DeviceResponseStatus:
    def __init__(self, s):
        self.status = s.status
        self.message = _text(s.message)
        self.errors = _notices(s.errors, ErrorInfo)
        self.warnings = _notices(s.warnings, WarningInfo)
        self.next_request = (DeviceConfigurationRequest(s.next_request)
                             if s.next_request != _ffi.NULL else None)


class InjectResult:
    """status 0, message the line's text, device_status the device's ReturnStatus."""

    def __init__(self, status, message, device_status):
        self.status = status
        self.message = message
        self.device_status = device_status
        self.errors = [] if status == 0 else [ErrorInfo(status, message)]


class FactoryToolApi:
    """One configurator handle (not thread-safe: one per thread)."""

    def __init__(self, home_dir=None, resources_dir=None, keystore_dir=None, config_file=None):
        self._keep = [_arg(home_dir), _arg(resources_dir), _arg(keystore_dir), _arg(config_file)]
        opts = _ffi.new("fcu_options *")
        opts.home_dir, opts.resources_dir, opts.keystore_dir, opts.config_file = self._keep
        self._fcu = _lib.fcu_open(opts)
        if self._fcu == _ffi.NULL:
            raise MemoryError("fcu_open")

    def close(self):
        if self._fcu is not None and self._fcu != _ffi.NULL:
            _lib.fcu_close(self._fcu)
        self._fcu = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def _handle(self):
        if self._fcu is None:
            raise ValueError("FactoryToolApi is closed")
        return self._fcu

    @property
    def home_dir(self):
        return _text(_lib.fcu_home_dir(self._handle()))

    @property
    def config_file(self):
        return _text(_lib.fcu_config_file(self._handle()))

    def _setup_call(self, fn, *args):
        out = _ffi.new("fcu_setup_status *")
        fn(self._handle(), *args, out)
        try:
            return SetupStatus(out)
        finally:
            _lib.fcu_setup_status_free(out)

    def setup_factory_configurator_utility(self, override_existing_ca=False):
        """Makes the handle's keystore a CA; raises FcuError (e.g. 290: CA exists)."""
        return _raise_for(self._setup_call(_lib.fcu_setup, bool(override_existing_ca)))

    def get_setup_status(self):
        """The CA's state without changing anything (never raises for a status)."""
        return self._setup_call(_lib.fcu_get_setup_status)

    def prepare_device_configuration(self, endpoint_name, serial_number,
                                     device_keys_location=None):
        out = _ffi.new("fcu_device_request *")
        _lib.fcu_prepare_device_configuration(self._handle(), _arg(endpoint_name),
                                              _arg(serial_number), _arg(device_keys_location),
                                              out)
        try:
            return _raise_for(DeviceConfigurationRequest(out))
        finally:
            _lib.fcu_device_request_free(out)

    def verify_device_response(self, endpoint_name, device_response, operation_context=None):
        """Checks the device's answer; raises FcuError when the device or the check failed.
        With operation_context (a by_device first step), next_request is the second bundle."""
        if not isinstance(device_response, (bytes, bytearray)):
            raise TypeError("device_response must be bytes")
        ctx = _ffi.new("fcu_operation_context **")
        if operation_context is not None:
            rc = _lib.fcu_operation_context_load(operation_context, len(operation_context), ctx)
            if rc != 0:
                raise FcuError(rc, "the operation context is not one saved by prepare")
        out = _ffi.new("fcu_device_response_status *")
        _lib.fcu_verify_device_response(self._handle(), _arg(endpoint_name),
                                        bytes(device_response), len(device_response),
                                        ctx[0], out)
        try:
            return _raise_for(DeviceResponseStatus(out))
        finally:
            _lib.fcu_device_response_status_free(out)
            _lib.fcu_operation_context_free(ctx[0])

    def inject(self, endpoint_name, serial_number, transport="tcp", ip="127.0.0.1", port=7777,
               serial_port=None, baud=115200, device_keys_location=None, timeout=30, retries=3):
        """A kiln extra: prepares the bundle, sends it to the device over TCP or a serial line
        (the original framing), waits for the answer and verifies it, as `factory_tool inject`.
        Raises FcuError with the numbered code (FCU, or the line's 1000-1023) on failure."""
        if transport == "tcp":
            address = "tcp:%s:%d" % (ip, int(port))
        elif transport == "serial":
            if not serial_port:
                raise ValueError("transport='serial' needs serial_port")
            address = "serial:%s@%d" % (serial_port, int(baud))
        else:
            raise ValueError("transport must be 'tcp' or 'serial'")
        message = _ffi.new("char[]", 2048)
        device_status = _ffi.new("int *")
        rc = _line_lib().line_inject_one(
            self._handle(), _arg(endpoint_name), _arg(serial_number),
            _arg(device_keys_location), address.encode("utf-8"), float(timeout),
            int(retries) + 1, device_status, message, 2048)
        result = InjectResult(rc, _ffi.string(message).decode("utf-8", "replace"),
                              device_status[0])
        return _raise_for(result)

/* The factory tool demo's error codes (seed 000, "Error codes for the demo"), kept with the
 * original numbers and texts, plus kiln's record states. */
#ifndef KILN_LINE_ERRORS_H
#define KILN_LINE_ERRORS_H

#define LINE_ERROR_MAP(X)                                                                          \
    X(OK, 0, "Command executed successfully")                                                      \
    X(GENERAL, 1000, "General error on factory tool: %s")                                          \
    X(DEVICE_COMMUNICATION, 1001, "Communication error received from device")                      \
    X(INVALID_CHECKSUM, 1002, "Device response verification failed due to an invalid checksum")    \
    X(TOKEN_TIMEOUT, 1003, "Timeout while waiting for device token")                               \
    X(DEVICE_EXECUTION, 1004, "Execution failed on device with error #%s")                         \
    X(SETUP_FAILED, 1005, "Setup failed unexpectedly")                                             \
    X(SERIAL_CONNECT, 1011, "Failed to connect to serial port %s")                                 \
    X(SERIAL_READ, 1012, "Failed to read data from serial connection")                             \
    X(NO_SERIAL_PORT, 1013, "No serial port is available on system")                               \
    X(SERIAL_NOT_CONNECTED, 1014, "Serial port %s not connected. Available ports: %s")             \
    X(TCP_CONNECT, 1021, "Error connecting to device on IP %s port %s")                            \
    X(TCP_RECEIVE, 1022, "Failed to receive data from TCP connection")                             \
    X(TCP_SEND, 1023, "Failed to send data over TCP connection")

typedef enum line_error {
#define LINE_ERROR_ENUM(name, code, text) LINE_E_##name = code,
    LINE_ERROR_MAP(LINE_ERROR_ENUM)
#undef LINE_ERROR_ENUM
} line_error;

/** Message template ("%s" where the original has a placeholder); never NULL. */
const char *line_error_template(int code);
/** Symbolic name ("TCP_CONNECT"); "UNKNOWN" otherwise. */
const char *line_error_name(int code);
/** Formats the message for code with up to two arguments into buf. */
void line_error_format(char *buf, size_t size, int code, const char *arg1, const char *arg2);
/** True for faults of the transport, where resending the same bundle is safe. */
int line_error_is_transport(int code);

#endif

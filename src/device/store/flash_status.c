/* Texts for kiln_flash_status. */
#include "kiln/flash.h"

const char *kiln_flash_status_to_string(int status)
{
    switch (status) {
    case KILN_FLASH_OK:
        return "success";
    case KILN_FLASH_IO:
        return "flash I/O failure";
    case KILN_FLASH_OUT_OF_RANGE:
        return "flash address out of range";
    case KILN_FLASH_MISALIGNED:
        return "flash program not aligned to the program size";
    case KILN_FLASH_NOT_ERASED:
        return "flash program over a word that is not erased";
    case KILN_FLASH_POWER_LOST:
        return "flash power lost";
    case KILN_FLASH_GEOMETRY:
        return "unusable or mismatching flash geometry";
    case KILN_FLASH_INVALID:
        return "invalid flash argument";
    default:
        return "unknown flash status";
    }
}

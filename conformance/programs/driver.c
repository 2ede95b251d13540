/* Calls a GNU-assembled program's main (renamed prog_main by objcopy) and prints
 * its return value, so the expected values are checked without imago. */
#include <stdio.h>

int prog_main(void);

int main(void)
{
    printf("%d\n", prog_main());
    return 0;
}

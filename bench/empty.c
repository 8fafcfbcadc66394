/* empty: the floor every command is compared with (exec, libc start, exit). */
int main(void)
{
	return 0;
}

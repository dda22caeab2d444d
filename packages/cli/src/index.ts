export async function main(argv: string[]): Promise<number> {
  console.log(`craft ${argv.join(" ")}`);
  return 0;
}

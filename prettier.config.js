/**
 * Prettier, set to the code's existing style. printWidth 160: of 120 to 180, the width whose
 * `prettier --write` changes the fewest lines of the current tree.
 * @type {import('prettier').Config}
 */
export default {
  printWidth: 160,
  singleQuote: true,
  trailingComma: 'all',
  arrowParens: 'always',
  // html`` templates are the pages the service sends: Prettier would reformat them as HTML
  // (indentation, `<br>` into `<br />`, tags split over lines) and so change what is served.
  embeddedLanguageFormatting: 'off',
};

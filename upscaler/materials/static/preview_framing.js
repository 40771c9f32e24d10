// The preview page's framing (upscaler/materials/preview.py inlines this module): where the
// sphere and the tiled plane stand and how far the camera is, so that both fill the view whatever
// the aspect of the window and of the material, recomputed on every resize.
// Pure three.js math, no WebGL: tests/test_materials_preview.py runs it under node.

export const SPHERE_RADIUS = 1.1;
export const PLANE_LONG_SIDE = 2.6;
const GAP = 0.5;          // between the sphere and the plane, in scene units
const MARGIN = 1.06;      // room around the pair, as a factor of the distance that just fits
// The camera looks slightly down at the scene, from this direction (normalised below).
const VIEW_DIRECTION = [0, 0.16, 1];

// The plane keeps the material's aspect (width / height): its longer side is PLANE_LONG_SIDE.
export function planeSize(materialAspect) {
  return materialAspect >= 1 ? [PLANE_LONG_SIDE, PLANE_LONG_SIDE / materialAspect]
                             : [PLANE_LONG_SIDE * materialAspect, PLANE_LONG_SIDE];
}

// Side by side in a view wider than tall, the sphere above the plane in a taller one.
export function place(sphere, plane, viewAspect) {
  const [w, h] = [plane.geometry.parameters.width, plane.geometry.parameters.height];
  if (viewAspect >= 1) {
    sphere.position.set(-(SPHERE_RADIUS + GAP / 2), 0, 0);
    plane.position.set(w / 2 + GAP / 2, 0, 0);
  } else {
    sphere.position.set(0, SPHERE_RADIUS + GAP / 2, 0);
    plane.position.set(0, -(h / 2 + GAP / 2), 0);
  }
  sphere.updateMatrixWorld(true);
  plane.updateMatrixWorld(true);
}

// Aim the camera at the objects' box and stand it back just far enough that every corner of the
// box is inside the view, horizontally and vertically, with MARGIN to spare.
export function fitCamera(THREE, camera, objects, viewAspect) {
  camera.aspect = viewAspect;
  const box = new THREE.Box3();
  for (const object of objects) box.expandByObject(object);
  const centre = box.getCenter(new THREE.Vector3());
  const back = new THREE.Vector3(...VIEW_DIRECTION).normalize();
  const up = new THREE.Vector3(0, 1, 0);
  const right = new THREE.Vector3().crossVectors(up, back).normalize();
  const trueUp = new THREE.Vector3().crossVectors(back, right);
  const tanV = Math.tan(THREE.MathUtils.degToRad(camera.fov / 2));
  const tanH = tanV * viewAspect;
  let distance = camera.near * 2;
  for (const x of [box.min.x, box.max.x]) for (const y of [box.min.y, box.max.y]) for (const z of [box.min.z, box.max.z]) {
    const p = new THREE.Vector3(x, y, z).sub(centre);
    const towards = p.dot(back);   // how far the corner stands out towards the camera
    distance = Math.max(distance, towards + Math.abs(p.dot(right)) / tanH, towards + Math.abs(p.dot(trueUp)) / tanV);
  }
  camera.position.copy(centre).addScaledVector(back, distance * MARGIN);
  camera.lookAt(centre);
  camera.updateProjectionMatrix();
  camera.updateMatrixWorld(true);
}

// Both steps for a view of this aspect: what the page runs at load and on resize.
export function frame(THREE, camera, sphere, plane, viewAspect) {
  place(sphere, plane, viewAspect);
  fitCamera(THREE, camera, [sphere, plane], viewAspect);
}
